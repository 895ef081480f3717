/// The built-in probe set of a version's int8 check (`PrecisionCheck`): short texts of the kinds sentimentd
/// classifies (posts, reviews, support messages; negative, neutral and positive), written for sentimentd and
/// shipped with it, so that every version is checked on at least `minimumCount` texts even when the label store's
/// evaluation split is small or empty.
///
/// 276 texts as written, then each joined with three others (the i-th with the (i + 37)-th, the (i + 101)-th and
/// the (i + 173)-th, wrapping): 1,104 in all, the joined ones two-sentence texts of mixed moods, where a label is
/// least stable under rounding.
public enum ProbeTexts {
    public static let minimumCount = 1000

    /// The written texts, one per line.
    static let written: [String] = """
        I love this so much, best day ever!
        This is the worst service I have ever had.
        The meeting is at 3pm in room 204.
        Finally got my package, and it arrived early. Great job!
        My flight got cancelled again, this is terrible.
        The store opens at nine on weekdays.
        Absolutely amazing concert last night, still buzzing.
        The app keeps crashing every time I open it.
        Can someone tell me where the train station is?
        Thank you so much for the quick reply, that fixed it.
        Waited two hours on hold and nobody answered.
        I am reading the new report this afternoon.
        What a beautiful morning for a run by the river.
        The battery dies after an hour, totally useless.
        We are moving the office to the third floor next month.
        So proud of my sister for finishing her degree!
        They charged me twice and refuse to refund it.
        The recipe calls for two cups of flour.
        Best pizza in town, hands down.
        The update deleted all my saved files. Furious.
        The bus leaves every fifteen minutes.
        Such a lovely surprise from my team today.
        The coffee was cold and the staff was rude.
        Please send the invoice to the billing address.
        This phone is fast, light and the camera is stunning.
        I hate waking up to construction noise at 6am.
        The library is closed on public holidays.
        Our new puppy is the sweetest thing ever.
        The hotel room smelled like smoke and the sheets were dirty.
        The conference call has been moved to Thursday.
        Customer support was friendly and solved everything in minutes.
        Lost my wallet and my keys on the same day. Awful.
        I will be working from home tomorrow.
        Loving the new features in this release, well done.
        The printer jammed again and ruined the whole report.
        Temperatures will drop to ten degrees tonight.
        Great game, the team played their hearts out.
        Delivery was three weeks late and the box was crushed.
        The museum has a new exhibit on ancient maps.
        This book made me laugh and cry, highly recommend.
        My order arrived broken and nobody cares.
        I need to renew my passport before June.
        The sunset at the beach tonight was unreal.
        The website is down again, I cannot log in.
        Lunch is served from twelve to two.
        Thrilled to announce I got the job!
        The food was bland and overpriced.
        The form asks for a phone number and an email.
        Such a kind gesture from a stranger today, made my week.
        Traffic was a nightmare, I missed the whole first act.
        Registration closes on Friday at midnight.
        The hike was tough but the view was worth every step.
        This keyboard stopped working after two days.
        The package is out for delivery.
        Happy birthday to the best friend anyone could ask for!
        I am so disappointed with how this was handled.
        The parking lot is behind the building.
        The new cafe on Main Street is wonderful.
        My laptop overheats and shuts down constantly.
        We have a team lunch on Wednesday.
        The kids had a blast at the science fair.
        Another data breach, I am done with this company.
        The exam covers chapters four to seven.
        Fantastic service, I will definitely come back.
        The movie was boring and way too long.
        The guide will meet us in the lobby.
        So grateful for all the support this year.
        I cannot believe they lost my luggage again.
        The report is due at the end of the quarter.
        This is hands down the best album of the year.
        The neighbours partied until four in the morning, I am exhausted.
        The seminar starts with a short introduction.
        My garden finally bloomed and it looks gorgeous.
        The refund still has not arrived after a month.
        The meeting notes are in the shared folder.
        What a great win for the team tonight!
        Terrible customer service, they hung up on me.
        The train to the airport takes forty minutes.
        I adore this little bookshop, such a cozy place.
        The software update made everything slower.
        The office will be closed for maintenance on Saturday.
        We finally bought our first home, so happy!
        My internet has been down for three days.
        The form must be signed by both parties.
        The chef was amazing and the dessert was perfect.
        I regret buying this vacuum, it barely picks anything up.
        Class starts at eight sharp.
        Today was a good day, productive and calm.
        The game crashed and I lost all my progress.
        The bridge will be closed for repairs next week.
        The nurses were incredibly caring and patient.
        The delivery driver threw the parcel over the fence.
        Our quarterly review is scheduled for Monday.
        Just finished my first marathon, feeling incredible!
        The headphones broke after a week, cheap junk.
        The bakery sells bread until it runs out.
        This tutorial explained everything so clearly, thank you.
        I have been waiting for a technician since morning, ridiculous.
        The event is free and open to everyone.
        My grandmother turned ninety today and she is thriving.
        The shower was cold and the wifi did not work.
        The survey takes about ten minutes.
        Really impressed by how smooth the checkout was.
        Worst experience ever, never ordering from here again.
        The station is two blocks north of the park.
        The new update fixed every bug I reported, great work.
        The airline cancelled my flight without any notice.
        The results will be published next week.
        Beautiful wedding, everyone was so happy.
        The customer service bot is useless and loops forever.
        The pharmacy is open until ten.
        I am proud of how far this project has come.
        My car broke down on the highway in the rain.
        The spreadsheet has a tab for each month.
        That was the most relaxing vacation I have had in years.
        The noise from the upstairs flat is driving me crazy.
        The lecture was recorded and posted online.
        Thanks to everyone who came, it was a wonderful evening.
        The screen cracked the first time I dropped it.
        Tickets are available at the front desk.
        The new teacher is fantastic, the kids love her.
        They cancelled the show an hour before it started.
        We will review the proposal on Tuesday.
        Got a promotion today, hard work pays off!
        The landlord ignores every repair request.
        The flight departs from gate twelve.
        The soup was delicious and the bread was warm.
        This charger melted, it is a fire hazard.
        The workshop is limited to twenty people.
        My cat curled up on my lap and purred all evening.
        Stuck in a queue for forty minutes, no staff in sight.
        The article was published this morning.
        This coffee maker is perfect, quiet and quick.
        The hospital lost my test results, unbelievable.
        The team meets every Monday at ten.
        Our volunteers did an outstanding job this weekend.
        The subscription renewed without asking and they will not cancel it.
        The forecast says light rain in the evening.
        I finally understand calculus thanks to this course.
        The restaurant got our order completely wrong.
        The parcel weighs about two kilos.
        Wonderful news, the clinic reopens next week!
        I feel ignored by this company after ten years as a customer.
        The bike lane runs along the river.
        Such a fun night with old friends.
        The water has been off all day with no explanation.
        The game starts at half past seven.
        This charity does amazing work for the community.
        The manager was condescending and unhelpful.
        There are three options on the menu for vegetarians.
        I am so happy with my new glasses.
        The elevator has been broken for two weeks.
        The documents were sent by post yesterday.
        What a performance, the crowd went wild!
        The train was delayed by an hour and it was freezing.
        The class is held in the main hall.
        Best customer experience I have had in a long time.
        The mattress started sagging after a month.
        The store has a new returns policy.
        We raised more money than we ever hoped, thank you all.
        The app charges hidden fees, such a scam.
        Dinner is at seven at my place.
        This city never fails to amaze me.
        The power went out in the middle of my presentation.
        The newsletter goes out on the first of each month.
        The team fixed my issue on a Sunday, above and beyond.
        I got food poisoning after eating there.
        The trail is about five kilometres long.
        My daughter took her first steps today!
        The courier left my package in the rain.
        The council meets on the second Tuesday.
        Lovely staff and a really clean room.
        This is the third time my order has been cancelled.
        The course runs for six weeks.
        Just tried the new burger place, absolutely delicious.
        The printer driver will not install, wasted my whole morning.
        The new schedule starts in January.
        Such a heartwarming story, made me smile.
        My bank froze my account for no reason.
        The recipe serves four people.
        Had the best time at the festival this weekend.
        The TV remote stopped working and support just shrugs.
        The polling station is at the primary school.
        A big thank you to the firefighters who saved our street.
        I am sick of these constant price increases.
        Our flight lands at six in the morning.
        The view from the top of the tower is breathtaking.
        The website charged me and then showed an error.
        The keys are in the top drawer.
        This tea is so soothing after a long day.
        The doctor kept me waiting for three hours.
        The office printer is on the second floor.
        I am grateful for my friends, they are the best.
        The cable company sent me a bill for a service I never ordered.
        The deadline is the fifteenth.
        That new series is brilliant, I watched it all in one go.
        The heating broke in the middle of winter.
        The shuttle runs between the hotel and the airport.
        The kids cleaned their rooms without being asked, miracle!
        The seller never shipped the item and vanished.
        The store is on the corner of Elm and Fifth.
        Wow, the fireworks were spectacular tonight.
        Bought a new blender and it leaks everywhere.
        Please bring your ID to the appointment.
        I really appreciate how patient you were with me.
        The parking fine was a complete mistake and they will not listen.
        Breakfast is included with the room.
        Amazing support from the community, we are overwhelmed with kindness.
        The phone line is always busy, impossible to reach anyone.
        The bus stop moved across the street.
        Our garden party was a huge success.
        The laptop arrived with a dead pixel and a scratched lid.
        The gym opens at five in the morning.
        I just love rainy Sundays with a good book.
        I was overcharged and the manager laughed at me.
        The document has twelve pages.
        Gorgeous weather for the picnic today.
        The plumber never showed up and did not call.
        Lessons are on Tuesdays and Thursdays.
        That was the funniest stand-up show I have ever seen.
        My flight was overbooked and they bumped me.
        The shop accepts cash and cards.
        The new park is beautiful and the kids adore it.
        The update broke the login page for everyone.
        The next train is in five minutes.
        Received the kindest note from a colleague today.
        This vacuum is loud and weak, total waste of money.
        The meeting room is booked until noon.
        I am so excited for the holidays!
        The insurance company rejected my claim without explanation.
        Volunteers should arrive by eight.
        Their new album is pure joy from start to finish.
        The coffee machine at work has been broken all week.
        The museum is free on Sundays.
        Couldn't be happier with the results.
        The customer portal logs me out every five minutes.
        The survey results are attached.
        This little town is so charming.
        They ruined my favourite jacket at the dry cleaner.
        The train carriage has a quiet zone.
        Our team won the regional championship!
        My package was delivered to the wrong address, again.
        The session ends at four.
        Incredible food, friendly staff, great prices.
        The road works have made my commute twice as long.
        The clinic needs your insurance number.
        Such a peaceful walk through the forest this morning.
        The website's checkout is broken and I lost my cart.
        We have a new receptionist.
        I can't stop smiling after that phone call.
        The smoke alarm goes off for no reason every night.
        The form is available in three languages.
        What a brilliant idea, I love it.
        The repair shop kept my phone for a month and did nothing.
        The room fits about thirty people.
        It feels good to be home.
        This is unacceptable, I want to speak to a manager.
        The library has a reading room upstairs.
        Happiest dog in the world after his bath.
        The software costs more every year and gets worse.
        The match was postponed because of the rain.
        She gave a wonderful speech at the ceremony.
        I've been charged a late fee for a bill I paid on time.
        The bakery is next to the post office.
        These shoes are so comfortable, I want them in every colour.
        The queue at immigration took three hours.
        The app has a dark mode now.
        Wonderful trip, the guides were knowledgeable and fun.
        My neighbour's dog barks all night long.
        The invoice number is on the top right.
        The team delivered ahead of schedule, brilliant work.
        The sandwich had a hair in it, gross.
        The train company announced a new timetable.
        Really enjoyed the workshop, learned a lot.
        The landlord raised the rent by thirty percent.
        The office closes early on Fridays.
        """.split(separator: "\n").map { String($0) }

    /// The written texts, then the joined pairs (4 · written.count texts).
    public static let all: [String] = {
        let n = written.count
        return written + [37, 101, 173].flatMap { shift in (0..<n).map { written[$0] + " " + written[($0 + shift) % n] } }
    }()
}
